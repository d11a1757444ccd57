"""Optional helpers with XManager/lxm3 names (search, parameter controller, site presets).

Nothing here is imported by the core: a launch script opts in with
`from lxm3.contrib import search` (or another helper).
"""
