"""gRPC-Web for browsers and the official Textile JS SDK (``bucketfs hub serve --grpc-web``).

A bridge, not a second implementation: each gRPC-Web call (HTTP/1.1 ``application/grpc-web*``
or one ``grpc-websockets`` websocket of `@improbable-eng/grpc-web`) is forwarded as a raw-bytes
gRPC call to the hub's own gRPC address, so the auth interceptor and the servicers answer it
exactly as they answer native clients. :mod:`.framing` holds the wire pieces, :mod:`.bridge`
the forwarding, :mod:`.web` the aiohttp handlers, :mod:`.server` the thread that runs them.
"""

from .server import GrpcWebServer

__all__ = ["GrpcWebServer"]
