"""The support console (server-rendered HTML under ``/console``) and the admin API (``/api/v1``), mounted as
sub-applications of the collector by :func:`collector.console.mount.setup_console`. ``service/`` is what both
call (and the CLI's console commands too); ``views`` renders the pages."""
