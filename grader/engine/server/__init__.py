"""A grading's throwaway MLflow server: started quick, bounded, guarded."""
