"""The customer portal at /portal: a customer's organisation's cases, opening one,
notices and releases, on the console's sign-in, sessions and protections."""
