"""The station's daemon: what runs on the measurement PC, pass after pass.

``agent`` is the loop that runs passes; ``holds`` decide whether a pass may start or go
on (one small module a hold, evaluated in one order); ``clock`` measures the server's
clock; ``retry`` is the tenacity policy for link faults; and what the station tells
others lives beside them: ``status`` (the state folder), ``health`` (the heartbeat),
``metrics``, ``pings``, ``report`` (the report written to the server) and ``logs`` (the
log's format); ``agent._tell`` gives them all one account of a pass. It may import ``config``, the
shared ``report`` format, the ``engine`` and below; never ``office`` or ``setup``.
"""
