"""Configuration shared by every audience: ``settings`` declares each ``CSU_*`` variable
once (and builds the connection they describe), ``load`` reads and checks them all at once
and prints the reference, ``schedule`` parses upload windows and bandwidth timetables,
``pingurl`` checks ping URLs, ``state`` makes the private state folder, ``versions`` says
what is installed. It may import the shared ``report`` format, the ``engine`` (its
defaults), ``source``, ``remote`` and below; never ``station``, ``office`` or ``setup``.
"""
