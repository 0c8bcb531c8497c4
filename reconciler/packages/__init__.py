"""Scramjet sequence packages on disk: ``pack`` builds or reads one, ``archive`` checks a ready
.tar.gz while streaming it. No HTTP."""
