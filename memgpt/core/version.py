"""The package version, readable from any layer."""

VERSION = "0.1.0"
