"""The model gateway's domain: which model an agent may use, what its calls cost, and its budget."""
