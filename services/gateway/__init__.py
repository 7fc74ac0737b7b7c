"""norgate gateway service."""
