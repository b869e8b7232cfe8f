"""The wire protocols: MLflow's scoring protocol and the Open Inference Protocol (KServe V2)."""
