"""jen1.diffusion"""
