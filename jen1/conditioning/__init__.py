"""jen1.conditioning"""
