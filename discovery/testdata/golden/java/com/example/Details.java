package com.example;

import java.util.List;
import java.util.Map;

// A payload with fields of several kinds; Jackson writes them in declaration order.
public class Details {
    public String description;
    public int weight;
    public long big;
    public double ratio;
    public boolean leader;
    public List<String> tags;
    public Map<String, String> meta;
    public InstanceDetails inner;
}
