"""The station's disk: which days and files the source folder holds (``days``), dated
names (``patterns``), when a day is ready (``readiness``), the source lock (``lock``),
the local ``.do-not-touch`` marker (``markers``) and the removal of verified files
(``removal``). Imports nothing of the package but ``errors``."""
