import json

try:
    model = json.load(open('my_model.json'))
except OSError as err:
    print('could not load:', err.strerror)

print(model['layers'])
