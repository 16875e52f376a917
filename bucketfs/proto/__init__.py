"""Generated protobuf and gRPC modules (scripts/gen-protos); do not edit by hand."""
