"""Critical initialisation, initialisers and phase diagrams built on the served quantities."""
