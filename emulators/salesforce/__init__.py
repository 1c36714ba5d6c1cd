"""Local Salesforce REST API emulator (REST, composite, collections, SOQL, Bulk 2.0, OAuth, faults)."""
from .faults import Fault, Faults
from .server import SalesforceEmulator
from .state import ADMIN_USERNAME, INTEGRATION_USERNAME

__all__ = ["ADMIN_USERNAME", "INTEGRATION_USERNAME", "Fault", "Faults", "SalesforceEmulator"]
