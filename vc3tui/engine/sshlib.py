"""asyncssh, imported through here only, so that its import never prints a third party's warning.

cryptography deprecates DSA and warns each time asyncssh's own modules name DSA types (ten lines
on stderr per start, before every one-line error). That one category, from asyncssh's modules
alone, is ignored; every other warning still shows.
"""

import warnings

from cryptography.utils import CryptographyDeprecationWarning

warnings.filterwarnings("ignore", category=CryptographyDeprecationWarning, module=r"asyncssh(\.|$)")

import asyncssh  # noqa: E402  (after the filter, which is the point of this module)

__all__ = ["asyncssh"]
