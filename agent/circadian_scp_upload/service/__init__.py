"""The daemon: configuration (``settings``, declared once; ``config``, loaded and checked
once; ``connect``, the connection it describes), the pass loop (``agent``) with its
retry policy (``retry``), upload windows and bandwidth timetables (``schedule``), and
what it tells the office: ``status``, ``health``, ``metrics``, ``pings``, kept in the
private state folder (``state``); ``logs`` formats its output."""
