"""The one exception a person sees: a message that says what went wrong and what to do next."""


class ShopperError(Exception):
    """Bad input or a state shopper cannot work in. The command line prints `str(err)` as one
    line and exits with code 2; it never shows a traceback for these."""

    exit_code = 2
