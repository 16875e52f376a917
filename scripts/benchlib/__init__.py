"""The harness of ``scripts/bench`` (not part of the installed bucketfs package).

``scripts/bench`` and ``tests/test_bench_quick.py`` put ``scripts/`` on ``sys.path`` and import
``benchlib``: ``workloads`` (the phases), ``targets`` (the filesystems compared), ``durable``
(untar and rm -rf with an fsync per change, for ``local-fsync``), ``populate`` (many files put in
place quickly), ``probe`` (timing, memory, py-spy), ``run`` (the loop), ``report`` (the table),
``goals`` (the mount's performance goals) and ``nullfs`` (the pyfuse3 ceiling, run as a script;
the one module outside ``bucketfs/fuse/`` that may import pyfuse3, see ``scripts/check_layers.py``).
"""
