"""One device, one step: the operations of each workload kind, their roofline time and energy, and memory."""
