"""Types of the public names that ``servicemap/__init__.py`` loads lazily (PEP 562)."""

from servicemap.analysis.coverage import coverage_by_authority as coverage_by_authority
from servicemap.analysis.coverage import coverage_by_district as coverage_by_district
from servicemap.analysis.coverage import coverage_by_force as coverage_by_force
from servicemap.analysis.near import services_near as services_near
from servicemap.analysis.plan import propose_sites as propose_sites
from servicemap.analysis.plan import what_if as what_if
from servicemap.analysis.profile import force_profile as force_profile
from servicemap.directory.export import write_services as write_services
from servicemap.directory.load import load_services as load_services
from servicemap.directory.privacy import public_services as public_services
from servicemap.directory.validate import validate_services as validate_services
from servicemap.errors import ServicemapError as ServicemapError
from servicemap.geography.boundaries import load_force_areas as load_force_areas
from servicemap.geography.forces import load_authorities as load_authorities
from servicemap.geography.geocode import geocode_postcodes as geocode_postcodes
from servicemap.geography.need import load_need as load_need
from servicemap.geography.residents import resident_weights as resident_weights
from servicemap.render.maps import coverage_map as coverage_map
from servicemap.render.maps import save_map as save_map
from servicemap.render.plan_map import proposal_map as proposal_map
from servicemap.render.report import build_report as build_report
from servicemap.settings import DEFAULT_SETTINGS as DEFAULT_SETTINGS
from servicemap.settings import Settings as Settings

__version__: str
__all__: list[str]
