"""pyinfra facts: one wide read per host per run."""
