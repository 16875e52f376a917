"""The hub's Buckets logic: bucket records, tree updates, roles, private-bucket encryption
(dcrypto v1), links and the HTTP gateway. Servicers in ``bucketfs.hub.servicers.buckets`` are
thin adapters over :class:`bucketfs.hub.buckets.service.BucketService`."""
