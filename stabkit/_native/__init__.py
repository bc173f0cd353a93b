"""The accurate tier's optional compiled kernels, loaded with ctypes (each
module here says which path is active and why); without them every function
runs its NumPy code, which stays the reference the kernels are tested
against bit for bit."""
