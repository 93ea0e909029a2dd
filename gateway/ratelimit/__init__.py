"""Rate limits per API key: token buckets (in process or in Redis) and what operations cost."""
