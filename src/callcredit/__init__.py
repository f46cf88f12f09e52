"""callcredit: prepaid calling credit for cloud business phone systems."""

__version__ = "0.1.0"
