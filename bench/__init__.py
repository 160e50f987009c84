"""Chronos benchmarks: ``python -m bench`` (or ``make bench``).

Every figure is measured against the real pieces (the ``python -m scheduler`` process,
``dramatiq worker``, gunicorn) on a database and RabbitMQ queues of the run's own, which
are removed at the end. Two *limits* (L1: what a bare publisher gets out of RabbitMQ;
L2: what a bare Dramatiq worker gets out of PostgreSQL) are measured in the same run, so
each Chronos figure (C1-C5) is shown next to the ceiling it can at best reach, and C6
puts Celery through the same workloads.

One module per benchmark; :mod:`bench.__main__` runs them and prints one table.
"""
