"""gRPC backends (KrakenD Enterprise ``grpc`` catalog and ``backend/grpc``): unary calls built from
protobuf descriptors loaded at start-up.

:mod:`.options` is pure (parse); the rest imports ``grpcio`` and ``protobuf`` and is imported only by
the components' ``build``, so a configuration without gRPC never loads them.
"""
