//! Shared code of the rvs command-line tools and daemons.
