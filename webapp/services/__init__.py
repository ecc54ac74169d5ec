"""Business operations. They add and flush; the view or job that calls them owns the commit."""
