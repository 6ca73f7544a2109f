"""The target-side agent (stdlib only, Python >= 3.7).

Shipped inside agent.pyz as the package `kmatrix_agent`, so modules here import
each other relatively and never import the controller's `kmatrix` package.
"""
