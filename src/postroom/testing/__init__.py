"""Test support the project ships: throwaway databases and a live server on a dynamic port."""
