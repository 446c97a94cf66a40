"""gpu-provisioner: serves karpenter Machines with cloud GPU capacity."""
