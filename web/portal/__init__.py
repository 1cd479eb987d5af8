"""The customer portal at /portal: a customer's organisation's cases, opening one (with
knowledge-base articles suggested as its title is typed), notices, releases and the
knowledge base, on the console's sign-in, sessions and protections."""
