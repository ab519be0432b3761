faces = []
for face in faces:
    preds = [0.9, 0.1]
print('label', preds[0])
