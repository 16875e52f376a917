"""End-to-end test tools that run through real FUSE mounts over a real hub subprocess: the random
file-operation exerciser (exerciser.py), the kill -9 loop (killloop.py) and the many-writers +
lister load (load.py), with the hub and mounts they share (env.py). Used by scripts/exercise,
scripts/killloop, scripts/loadtest and by tests/fuse/test_{exerciser,killloop,load}.py; outside
the installed package like scripts/benchlib."""
