"""The office: reading the fleet where the station reports land, on the server.

``fleet`` reads and judges the station reports (locally, or over SFTP with ``--remote``)
and ``page`` renders them as one HTML page. It reads only what a station wrote, through
the shared format in ``report.py`` at the package's top; it may import ``config``,
``report``, ``remote`` and ``errors``, and never the station's daemon, ``setup`` or the
upload engine: the office runs on a server that uploads nothing.
"""
