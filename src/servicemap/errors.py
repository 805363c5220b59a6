"""The exceptions servicemap raises; the CLI turns each into a one-line error."""

from __future__ import annotations


class ServicemapError(Exception):
    """Base class for every error servicemap reports to a user."""


class BoundaryFileError(ServicemapError, ValueError):
    """A boundary file or boundary source could not be read or is not usable."""


class DownloadError(ServicemapError):
    """A download from an official source failed; any earlier cache is left intact."""


class ServicesFileError(ServicemapError, ValueError):
    """A services directory file could not be read or is not a valid table."""


class GeocodeError(ServicemapError, ValueError):
    """Postcodes or coordinates could not be turned into places."""


class NeedFileError(ServicemapError, ValueError):
    """A need table (population figures per force or district) is not usable."""


class UnknownForceError(ServicemapError, ValueError):
    """A police force name or code matched none of the 43 force areas."""


class DataQualityWarning(UserWarning):
    """Input that is usable but doubtful: unknown postcodes, stale entries, rows with no place."""


class UnknownAreaError(ServicemapError, ValueError):
    """An area name (force, district, county, region, nation) could not be resolved."""


class PlanError(ServicemapError, ValueError):
    """A planning request (what-if or where-next) has bad arguments."""


class OutputError(ServicemapError, OSError):
    """An output file or folder could not be written (permissions, missing drive, full disk)."""


class MapError(ServicemapError, ValueError):
    """A map cannot be drawn with the arguments given (unknown measure, missing columns)."""


class ReportError(ServicemapError, ValueError):
    """A report cannot be written with the inputs or folder given."""


class SnapshotError(ServicemapError, ValueError):
    """A report's snapshot is missing, unreadable, or from a newer servicemap."""


class CacheError(ServicemapError, OSError):
    """The cache folder cannot be created or written (it is a file, read-only, or missing)."""


class CacheNotice(UserWarning):
    """A cached file was damaged, empty or replaced by a folder, and is being rebuilt."""
