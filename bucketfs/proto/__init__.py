"""Generated protobuf and gRPC modules (scripts/gen-protos); do not edit by hand.

Sources are in protos/bucketfs/proto/; docs/PROTOCOL.md describes them. Modules:

* ``threads_pb2`` / ``threads_pb2_grpc`` — ThreadDB, ``threads.pb.API``
* ``bucketsd_pb2`` / ``bucketsd_pb2_grpc`` — Buckets, ``api.bucketsd.pb.APIService``
  (with the bucketfs extension fields >= 1000)
* ``bucketfs_ext_pb2`` / ``bucketfs_ext_pb2_grpc`` — ``bucketfs.pb.BucketsExtension``
* ``hubd_pb2`` / ``hubd_pb2_grpc`` — Hub keys/accounts, ``api.hubd.pb.APIService``
* ``usersd_pb2`` / ``usersd_pb2_grpc`` — Users, ``api.usersd.pb.APIService``
* ``billingd_pb2`` — billing messages used by hubd/usersd
* ``crypto_pb2`` — libp2p ``PublicKey``/``PrivateKey`` (proto2)

The ``*_pb2_grpc`` modules import grpc: use them only from remote/, hub/ and testing/.
"""
