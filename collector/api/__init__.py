"""The admin API: JSON under ``/api/v1``, documented by ``collector/openapi.yaml``."""
