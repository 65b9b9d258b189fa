"""Models-from-code entry point: MLflow runs this file to build the pyfunc model.

Logging the model by this file, rather than by a pickled object, means a
loaded model runs the project's own code, and nothing is unpickled.
"""

from mlflow.models import set_model

from pipeline.serving.pyfunc_model import StockcastModel

set_model(StockcastModel())
