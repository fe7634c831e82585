"""Setting a station up: ``enroll`` makes the station's key, learns and pins the server's
host key, proves the login and prints the key line for the server kit's ``add-station``.
It may import ``config`` and below (settings, the transport's key and host-key helpers);
never the station's daemon or the office.
"""
