# No group data: the hosts of this case carry their own. Its own group_data/ keeps the corpus's
# (../group_data, for the top-level cases) out of it.
