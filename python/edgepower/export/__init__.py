"""Outputs of a :class:`~edgepower.report.Report`: tables and CSV (:mod:`.tables`), JSON
(:mod:`.json_io`), PNG charts (:mod:`.plots`), the console summary (:mod:`.console`),
EdgeProfiler's raw layout (:mod:`.edgeprofiler`) and all of them into a folder (:mod:`.files`).

Each function takes the report as its first argument; ``Report``'s methods forward here. A new
format is a module here and, if users call it often, one forwarding method on ``Report``.
"""
