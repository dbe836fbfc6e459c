"""mohs-asp: a coverage engine for Mohs Micrographic Surgery, the payer's policy written as ASP rules."""

__version__ = "0.1.0"
