print("EVIL SITECUSTOMIZE")
import os
os._exit(0)
