"""Secure headers, host checks and the HTTPS redirect of ``security/http`` (unrolled/secure v1.15)."""

from krakenpy.httpsecure.middleware import go_html_escape, go_redirect, secure_middleware
from krakenpy.httpsecure.options import SecureOptions, parse_secure

__all__ = ["SecureOptions", "go_html_escape", "go_redirect", "parse_secure", "secure_middleware"]
