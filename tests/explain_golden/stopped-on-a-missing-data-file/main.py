import csv

rows = list(csv.reader(open('train.csv')))
print(len(rows))
history = modle.fit(rows)
model = None
